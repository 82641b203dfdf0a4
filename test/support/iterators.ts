/**
 * The value of one iterator step, or undefined once the iterator is done. A step's `done` branch is
 * typed `any` (AsyncIterator's default TReturn), which would make every `.value.x` in a test `any` too.
 */
export function valueOf<T>(step: IteratorResult<T, unknown>): T | undefined {
  return step.done ? undefined : step.value;
}
