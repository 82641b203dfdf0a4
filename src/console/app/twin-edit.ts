/**
 * The desired-state editor shows the whole document; the API takes a JSON merge patch (RFC 7386).
 * The patch is the difference: changed and added keys, and null for every key the user deleted.
 */
export function desiredPatchOf(current: unknown, editedText: string): { ok: true; value: Record<string, unknown> } | { ok: false; problem: string } {
  let edited: unknown;
  try {
    edited = JSON.parse(editedText);
  } catch (error) {
    return { ok: false, problem: `The desired state is not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!isObject(edited)) return { ok: false, problem: 'The desired state must be a JSON object.' };
  return { ok: true, value: mergePatch(isObject(current) ? current : {}, edited) };
}

function mergePatch(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    const before = from[key];
    if (isObject(before) && isObject(value)) {
      const inner = mergePatch(before, value);
      if (Object.keys(inner).length > 0) patch[key] = inner;
    } else if (JSON.stringify(before) !== JSON.stringify(value)) patch[key] = value;
  }
  return patch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
