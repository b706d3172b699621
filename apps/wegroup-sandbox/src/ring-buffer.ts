/**
 * Fixed-capacity FIFO: `push` is O(1) and, once full, overwrites the oldest entry.
 * Reads and filtered removals are O(n); they only serve the control API.
 */
export class RingBuffer<T> {
  private items: T[] = [];
  /** Index of the oldest entry once the buffer has wrapped; 0 before. */
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('RingBuffer capacity must be a positive integer');
  }

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    this.items[this.start] = item;
    this.start = this.start + 1 === this.capacity ? 0 : this.start + 1;
  }

  /** Entries oldest first, optionally filtered. */
  toArray(keep?: (item: T) => boolean): T[] {
    const out: T[] = [];
    const n = this.items.length;
    for (let i = 0; i < n; i++) {
      const item = this.items[(this.start + i) % n];
      if (!keep || keep(item)) out.push(item);
    }
    return out;
  }

  /** Removes the matching entries (order of the others is kept); returns how many went. */
  removeWhere(drop: (item: T) => boolean): number {
    const before = this.items.length;
    this.items = this.toArray((item) => !drop(item));
    this.start = 0;
    return before - this.items.length;
  }

  clear(): number {
    const before = this.items.length;
    this.items = [];
    this.start = 0;
    return before;
  }
}
