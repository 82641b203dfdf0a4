/** A resolver failing with a transient database error answers UNAVAILABLE (HTTP 503); other failures stay masked. */
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/domain/errors.ts';
import { maskUnavailable } from '../../src/http/graphql.ts';

/** What node-postgres throws while PostgreSQL shuts down, and the socket error after it. */
const adminShutdown = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' });
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });

const yoga = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { down: Int, refused: Int, wrapped: Int, bug: Int }',
    resolvers: {
      Query: {
        down: () => Promise.reject(adminShutdown()),
        refused: () => Promise.reject(refused()),
        wrapped: () => Promise.reject(new Error('loading the twin failed', { cause: adminShutdown() })),
        bug: () => Promise.reject(new TypeError('x is undefined')),
      },
    },
  }),
  maskedErrors: { maskError: maskUnavailable },
  logging: false,
});

async function ask(field: string) {
  const response = await yoga.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ ${field} }` }),
  });
  return { status: response.status, body: (await response.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> } };
}

describe('GraphQL while the database is unavailable', () => {
  it('answers UNAVAILABLE with HTTP 503 for a transient database failure, also wrapped in a cause', async () => {
    for (const field of ['down', 'refused', 'wrapped']) {
      const { status, body } = await ask(field);
      expect(status, field).toBe(503);
      expect(body.errors, field).toEqual([
        expect.objectContaining({ message: 'the database is unavailable; try again shortly', extensions: { code: 'UNAVAILABLE' } }),
      ]);
    }
  });

  it('keeps masking every other unexpected error', async () => {
    const { status, body } = await ask('bug');
    expect(status).toBe(200);
    expect(body.errors).toEqual([expect.objectContaining({ message: 'Unexpected error.' })]);
    expect(maskUnavailable(new NotFoundError('device', 'x'), 'Unexpected error.')).toMatchObject({ message: 'Unexpected error.' });
  });
});
