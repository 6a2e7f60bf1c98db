/** A FIFO over an array with a moving head, compacted now and then: amortised O(1) per item. */
export class Deque<A> {
  private items: Array<A | undefined> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(a: A): void {
    this.items.push(a)
  }

  peek(): A | undefined {
    return this.items[this.head]
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const a = this.items[this.head]
    this.items[this.head++] = undefined // let the item be collected
    // compact once the dead prefix is large and at least half the array
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return a
  }

  /** put these back at the head, in their order */
  unshiftAll(as: ReadonlyArray<A>): void {
    this.items = [...as, ...this.items.slice(this.head)]
    this.head = 0
  }
}
