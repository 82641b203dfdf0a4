import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

// Only `Kind` (plain strings) is imported at runtime: graphql-js's type predicates use `instanceof`, and
// under vitest this module and the schema (built by Pothos) can load two copies of graphql. Types are
// read by their shape instead: wrappers have `ofType`, and print as "[T]" (list) or "T!" (non-null).
const unwrapNonNull = (type: GraphQLType): GraphQLType => (String(type).endsWith('!') ? (type as { ofType: GraphQLType }).ofType : type);
const isList = (type: GraphQLType): boolean => String(unwrapNonNull(type)).startsWith('[');
function namedType(type: GraphQLType): GraphQLNamedType {
  let t: GraphQLType = type;
  while ('ofType' in t && t.ofType) t = t.ofType as GraphQLType;
  return t as GraphQLNamedType;
}

/** The value of an argument literal; only numbers and list lengths matter to the cost. */
function literal(node: ValueNode, variables: Readonly<Record<string, unknown>>): unknown {
  switch (node.kind) {
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.VARIABLE:
      return variables[node.name.value];
    case Kind.LIST:
      return node.values.map((v) => literal(v, variables));
    default:
      return undefined;
  }
}

/**
 * The cost of a GraphQL operation, estimated from the document and its variables before anything
 * runs. An upper bound, not a prediction: it charges for what the query may return.
 *
 * - Every field costs 1; introspection fields (`__schema`, `__type`, `__typename`) cost nothing —
 *   introspection is switched on or off as a whole (GRAPHQL_INTROSPECTION).
 * - A field with `first` / `last` arguments (a connection) is a page: the list fields directly inside
 *   it (`edges`, `nodes`) multiply the cost of their selection by the page size — the larger of
 *   `first` and `last`, `defaultPageSize` when neither is given, at most `maxPageSize`.
 * - Any other list field multiplies its selection's cost by the length of its longest list argument
 *   (e.g. `nodes(ids:)`, `latest(metrics:)`), else by `listSize`.
 * - Fragments and every branch of an abstract type are counted in full (an upper bound), and
 *   `@skip` / `@include` are ignored.
 */
export interface CostOptions {
  /** Page size assumed when a connection is asked for without `first` / `last` (default 100). */
  defaultPageSize?: number;
  /** Largest page any connection serves; larger `first` values are refused by the field itself (default 1000). */
  maxPageSize?: number;
  /** Items assumed for a list field that is neither paged nor sized by an argument (default 10). */
  listSize?: number;
}

export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
  options: CostOptions = {},
): number {
  const defaultPageSize = options.defaultPageSize ?? 100;
  const maxPageSize = options.maxPageSize ?? 1000;
  const listSize = options.listSize ?? 10;

  const fragments = new Map<string, FragmentDefinitionNode>();
  const operations: OperationDefinitionNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    else if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(definition);
  }
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation) return 0; // execution reports the missing operation itself
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) return 0;

  // Variables the caller left out take the operation's defaults.
  const values: Record<string, unknown> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (variables && Object.hasOwn(variables, name)) values[name] = variables[name];
    else if (definition.defaultValue) values[name] = literal(definition.defaultValue, {});
  }

  const argumentsOf = (field: GraphQLField<unknown, unknown>, node: { arguments?: readonly { name: { value: string }; value: ValueNode }[] | undefined }) => {
    const args: Record<string, unknown> = {};
    for (const argNode of node.arguments ?? []) {
      const definition = field.args.find((a) => a.name === argNode.name.value);
      if (definition) args[definition.name] = literal(argNode.value, values);
    }
    return args;
  };

  const fieldsOf = (type: GraphQLNamedType): Record<string, GraphQLField<unknown, unknown>> =>
    'getFields' in type && typeof type.getFields === 'function' ? (type.getFields() as Record<string, GraphQLField<unknown, unknown>>) : {};

  function selectionCost(
    selectionSet: SelectionSetNode,
    parentType: GraphQLNamedType,
    pageSize: number | undefined,
    fragmentPath: ReadonlySet<string>,
  ): number {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name.startsWith('__')) continue;
        const field = fieldsOf(parentType)[name];
        if (!field) {
          total += 1; // validation has refused unknown fields already; never count below 1
          continue;
        }
        const args = argumentsOf(field, selection);
        const isPage = field.args.some((a) => a.name === 'first' || a.name === 'last');
        const childPageSize = isPage ? pageOf(args) : undefined;
        let multiplier = 1;
        if (isList(field.type)) {
          const sized = Object.values(args).reduce<number>((longest, v) => (Array.isArray(v) ? Math.max(longest, v.length) : longest), -1);
          multiplier = pageSize ?? (sized >= 0 ? sized : listSize);
        }
        const inner = selection.selectionSet ? selectionCost(selection.selectionSet, namedType(field.type), childPageSize, fragmentPath) : 0;
        total += 1 + multiplier * inner;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? (schema.getType(selection.typeCondition.name.value) ?? parentType) : parentType;
        total += selectionCost(selection.selectionSet, type, pageSize, fragmentPath);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || fragmentPath.has(name)) continue; // a cycle is a validation error; do not loop on it
        const type = schema.getType(fragment.typeCondition.name.value) ?? parentType;
        total += selectionCost(fragment.selectionSet, type, pageSize, new Set([...fragmentPath, name]));
      }
    }
    return total;
  }

  function pageOf(args: Record<string, unknown>): number {
    const sizes = [args.first, args.last].filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    const size = sizes.length > 0 ? Math.max(...sizes) : defaultPageSize;
    return Math.min(Math.max(size, 0), maxPageSize);
  }

  return selectionCost(operation.selectionSet, rootType, undefined, new Set());
}
