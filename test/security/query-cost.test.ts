import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { operationCost } from '../../src/security/query-cost.ts';

const schema = buildSchema(/* GraphQL */ `
  type Query {
    device(id: ID!): Device
    devices(first: Int, last: Int, after: String): DeviceConnection!
    nodes(ids: [ID!]!): [Device]!
    models: [Model!]!
  }
  type Mutation { update(id: ID!): Device }
  type Subscription { changed(id: ID): Device! }
  type Model { name: String! }
  type Device {
    id: ID!
    name: String
    tags: [String!]!
    telemetry(first: Int, last: Int): PointConnection!
    latest(metrics: [String!]): [Point!]!
  }
  type DeviceConnection { edges: [DeviceEdge!]! pageInfo: PageInfo! totalCount: Int! }
  type DeviceEdge { cursor: String! node: Device! }
  type PointConnection { edges: [PointEdge!]! pageInfo: PageInfo! }
  type PointEdge { node: Point! }
  type Point { metric: String! value: Float! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
`);

const cost = (query: string, variables: Record<string, unknown> = {}, operationName?: string) => operationCost(schema, parse(query), operationName, variables);

describe('query cost', () => {
  it('charges 1 per field, lists of scalars included, and nothing for introspection', () => {
    expect(cost('{ device(id: "a") { id name tags } }')).toBe(4);
    expect(cost('{ __typename device(id: "a") { __typename id } __schema { types { name } } }')).toBe(2);
  });

  it('multiplies the list inside a connection by first/last, and the default page size without them', () => {
    // devices 1 + edges (1 + 10 × (cursor 1 + node (1 + id 1))) + pageInfo (1 + 1)
    expect(cost('{ devices(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } } }')).toBe(1 + 1 + 10 * 3 + 2);
    expect(cost('{ devices(last: 7) { edges { node { id } } } }')).toBe(1 + 1 + 7 * 2);
    expect(cost('{ devices { edges { node { id } } } }')).toBe(1 + 1 + 100 * 2);
    expect(operationCost(schema, parse('{ devices { edges { node { id } } } }'), undefined, {}, { defaultPageSize: 5 })).toBe(1 + 1 + 5 * 2);
  });

  it('reads page sizes from variables, falling back to the variable default', () => {
    const query = 'query Q($n: Int = 20) { devices(first: $n) { edges { node { id } } } }';
    expect(cost(query, { n: 50 })).toBe(2 + 50 * 2);
    expect(cost(query)).toBe(2 + 20 * 2);
  });

  it('multiplies nested pages, so a fleet-wide history query is expensive', () => {
    const query = '{ devices(first: 100) { edges { node { telemetry(first: 1000) { edges { node { value } } } } } } }';
    // per device: node 1 + telemetry (1 + edges (1 + 1000 × (node 1 + value 1)))
    expect(cost(query)).toBe(2 + 100 * (1 + 1 + 1 + 1000 * 2));
  });

  it('caps the page size at the largest page a connection serves', () => {
    expect(cost('{ devices(first: 1000000) { edges { node { id } } } }')).toBe(2 + 1000 * 2);
  });

  it('sizes unpaged lists by their longest list argument, else by the list size', () => {
    expect(cost('{ nodes(ids: ["a", "b", "c"]) { id name } }')).toBe(1 + 3 * 2);
    expect(cost('query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: ['a', 'b'] })).toBe(1 + 2);
    expect(cost('{ models { name } }')).toBe(1 + 10);
    expect(cost('{ device(id: "a") { latest(metrics: ["t"]) { value } } }')).toBe(1 + 1 + 1);
  });

  it('counts fragments and inline fragments in full, and does not loop on a fragment cycle', () => {
    expect(cost('query { device(id: "a") { ...F ... on Device { name } } } fragment F on Device { id tags }')).toBe(1 + 3);
    expect(cost('query { device(id: "a") { ...A } } fragment A on Device { id ...B } fragment B on Device { name ...A }')).toBe(1 + 2);
  });

  it('prices the operation that runs, for mutations and subscriptions too', () => {
    const doc = 'query A { device(id: "a") { id } } mutation B { update(id: "a") { id name } } subscription C { changed { id } }';
    expect(cost(doc, {}, 'A')).toBe(2);
    expect(cost(doc, {}, 'B')).toBe(3);
    expect(cost(doc, {}, 'C')).toBe(2);
    expect(cost(doc)).toBe(0); // ambiguous: execution refuses it on its own
  });
});
