/**
 * Windowing for long tables: only the rows in view (plus a margin) exist in the DOM, so a table of
 * 10,000 devices scrolls like one of 50. Rows have one fixed height, which makes the window pure
 * arithmetic on the scroll offset.
 */
export interface RowWindow {
  /** First row rendered (inclusive). */
  start: number;
  /** Row after the last one rendered (exclusive). */
  end: number;
  /** Space above the first rendered row, in px: keeps the scrollbar true to the whole table. */
  padTop: number;
  /** Space below the last rendered row, in px. */
  padBottom: number;
}

export function rowWindow(scrollTop: number, viewportHeight: number, rowHeight: number, total: number, overscan = 10): RowWindow {
  if (total <= 0 || rowHeight <= 0) return { start: 0, end: 0, padTop: 0, padBottom: 0 };
  const visibleCount = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  // A stale scroll offset (the list just got shorter) still shows the last rows, never an empty window.
  const firstVisible = Math.min(Math.floor(Math.max(0, scrollTop) / rowHeight), Math.max(0, total - visibleCount));
  const start = Math.min(total, Math.max(0, firstVisible - overscan));
  const end = Math.min(total, firstVisible + visibleCount + overscan);
  return { start, end, padTop: start * rowHeight, padBottom: (total - end) * rowHeight };
}
