/**
 * Paging the rules list through the API's cursor connection: each read asks for one page (`first`, and
 * `after` the last cursor read), so every query stays far under the server's cost limit however many
 * rules a tenant has. The list keeps the pages read so far; "More" appends the next one.
 */

/** Rules per read: 50 rules with their definitions cost about 1,100 of the 10,000 cost limit (test/console/roles-paging.test.ts). */
export const RULES_PAGE_SIZE = 50;

export interface Page<T> {
  totalCount: number;
  edges: ReadonlyArray<{ node: T }>;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
}

export interface Paged<T> {
  items: T[];
  totalCount: number;
  /** Where the next page starts, or null when every page has been read. */
  nextCursor: string | null;
}

export const firstRead = { first: RULES_PAGE_SIZE } as const;

/** The variables for the page after what `state` holds; null when there is nothing more to read. */
export function nextPageVariables(state: Paged<unknown>): { first: number; after: string } | null {
  return state.nextCursor === null ? null : { first: RULES_PAGE_SIZE, after: state.nextCursor };
}

/**
 * Adds a page to what was read. Without `state` it starts over (a first read or a re-read after a
 * reconnect or an action). A rule already listed (a rule renamed between reads can move past the
 * cursor) keeps one row, with the newer data.
 */
export function withPage<T>(state: Paged<T> | null, page: Page<T>, keyOf: (item: T) => string): Paged<T> {
  const items = state ? [...state.items] : [];
  const index = new Map(items.map((item, i) => [keyOf(item), i]));
  for (const { node } of page.edges) {
    const at = index.get(keyOf(node));
    if (at === undefined) {
      index.set(keyOf(node), items.length);
      items.push(node);
    } else items[at] = node;
  }
  const nextCursor = page.pageInfo.hasNextPage && page.pageInfo.endCursor ? page.pageInfo.endCursor : null;
  return { items, totalCount: page.totalCount, nextCursor };
}
