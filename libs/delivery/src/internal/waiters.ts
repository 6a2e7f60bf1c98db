/**
 * Workers waiting for a lane's buffer to have something. A woken worker is not handed an event: it polls
 * the buffer itself, so a worker interrupted while it waits (a batch deadline, shutdown) can never lose
 * one — with Effect's Queue, a `take` raced against a timeout can.
 */
import { Effect } from "effect"

export interface Waiters {
  /** wait until `ready()` holds (at once if it does) or `wake()` is called */
  readonly wait: Effect.Effect<void>
  /** let one waiting worker go and look */
  readonly wake: () => void
  readonly waiting: () => number
}

export const makeWaiters = (ready: () => boolean): Waiters => {
  const resumes: Array<() => void> = []
  return {
    wait: Effect.async<void>((resume) => {
      if (ready()) return resume(Effect.void)
      const waiter = () => resume(Effect.void)
      resumes.push(waiter)
      return Effect.sync(() => {
        const i = resumes.indexOf(waiter)
        if (i !== -1) resumes.splice(i, 1)
      })
    }),
    wake: () => resumes.shift()?.(),
    waiting: () => resumes.length
  }
}
