import { useState } from 'preact/hooks';

interface Props {
  /** Why the user is here again (a refused token), shown above the form. */
  notice: string | null;
  onToken: (token: string) => void;
}

/**
 * The token is entered once per tab. On the server's own machine the bootstrap admin token can be
 * taken from the server directly (it offers it only to a browser there, never remotely).
 */
export function TokenPage({ notice, onToken }: Props) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(location.hostname);

  async function useBootstrapToken() {
    setProblem(null);
    try {
      const response = await fetch('/console/bootstrap-token', { headers: { accept: 'application/json' } });
      const body = (await response.json()) as { token?: string; error?: string };
      if (body.token) onToken(body.token);
      else setProblem(body.error ?? `The server answered ${response.status}.`);
    } catch {
      setProblem('The server cannot be reached.');
    }
  }

  return (
    <main class="token-page">
      <h1>Doppel</h1>
      {notice && (
        <p class="notice" role="alert">
          {notice}
        </p>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          const value = token.trim();
          if (value) onToken(value);
          else setProblem('Paste an API token first.');
        }}
      >
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        <button type="submit">Open the console</button>
      </form>
      <p class="hint">
        The token stays in this tab only (session storage). Create one with <code>npm run token -- create --tenant default --role viewer --name console</code>;
        the server writes the first admin token to <code>data/admin-token</code>.
      </p>
      {local && (
        <p>
          <button type="button" class="secondary" onClick={() => void useBootstrapToken()}>
            Use this server’s bootstrap admin token
          </button>
        </p>
      )}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
    </main>
  );
}
