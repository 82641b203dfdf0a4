/** Errors from the API as a person reads them: the server's message, its code, and where it applies. */
export interface ApiErrorDetail {
  message: string;
  code?: string;
  /** For a ValidationError: the path of the field it is about (e.g. `power`), when the server names one. */
  path?: string;
}

export class ApiError extends Error {
  readonly details: ApiErrorDetail[];
  readonly code: string | undefined;
  constructor(details: ApiErrorDetail[]) {
    super(details.map((d) => d.message).join('; ') || 'The server answered with an error.');
    this.details = details;
    this.code = details[0]?.code;
  }
}

interface RawGraphQLError {
  message?: unknown;
  extensions?: { code?: unknown; path?: unknown; issues?: unknown };
}

/** The `errors` of a GraphQL response as ApiErrorDetails (server messages are already written for people). */
export function detailsOf(errors: readonly RawGraphQLError[]): ApiErrorDetail[] {
  return errors.map((error) => ({
    message: typeof error.message === 'string' ? error.message : 'Unknown error',
    ...(typeof error.extensions?.code === 'string' ? { code: error.extensions.code } : {}),
    ...(typeof error.extensions?.path === 'string' ? { path: error.extensions.path } : {}),
  }));
}

/** A failure of any kind as one sentence for the screen: never a blank panel. */
export function describeFailure(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return 'The server cannot be reached. Check that Doppel is running; the console retries on its own.';
  if (error instanceof Error) return error.message;
  return String(error);
}
