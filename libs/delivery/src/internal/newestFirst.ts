import type { DeadLetter } from "../DeadLetters.js"

/** `list` over dead letters kept oldest first: the newest first, of one output or all, at most `limit` */
export const newestFirst = (
  letters: ReadonlyArray<DeadLetter>,
  { limit, output }: { readonly output?: string | undefined; readonly limit: number }
): ReadonlyArray<DeadLetter> => {
  const out: Array<DeadLetter> = []
  for (let i = letters.length - 1; i >= 0 && out.length < limit; i--) {
    const letter = letters[i]!
    if (output === undefined || letter.output === output) out.push(letter)
  }
  return out
}
