import { RingBuffer } from './ring-buffer';

describe('RingBuffer', () => {
  it('keeps the newest entries in arrival order', () => {
    const buffer = new RingBuffer<number>(3);
    for (let i = 1; i <= 7; i++) buffer.push(i);
    expect(buffer.size).toBe(3);
    expect(buffer.toArray()).toEqual([5, 6, 7]);
    expect(buffer.toArray((n) => n % 2 === 1)).toEqual([5, 7]);
  });

  it('removes matching entries and keeps working', () => {
    const buffer = new RingBuffer<number>(4);
    for (let i = 1; i <= 6; i++) buffer.push(i);
    expect(buffer.removeWhere((n) => n % 2 === 0)).toBe(2);
    expect(buffer.toArray()).toEqual([3, 5]);
    buffer.push(7);
    buffer.push(8);
    buffer.push(9);
    expect(buffer.toArray()).toEqual([5, 7, 8, 9]);
    expect(buffer.clear()).toBe(4);
    expect(buffer.toArray()).toEqual([]);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
  });
});
