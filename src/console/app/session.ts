/** The API token lives in this tab's session storage only: closing the tab forgets it. */
const KEY = 'doppel.console.token';

export const loadToken = (): string | null => sessionStorage.getItem(KEY);
export const saveToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(KEY);
