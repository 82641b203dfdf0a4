import { builder } from '../builder.ts';
import { AlreadyExistsError, type DoppelError, InUseError, NotFoundError, ValidationError, VersionConflictError, type FieldIssue } from '../domain/errors.ts';

/** Every typed error implements this, so clients can always select `... on Error { message code }`. */
export const ErrorInterface = builder.interfaceRef<DoppelError>('Error').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code', { description: 'Stable machine-readable code.' }),
  }),
});

const FieldErrorRef = builder.objectRef<FieldIssue>('FieldError').implement({
  description: 'One failing input field.',
  fields: (t) => ({
    path: t.exposeStringList('path', { description: 'Path of the field, e.g. ["patch","a","$b"].' }),
    message: t.exposeString('message'),
    code: t.exposeString('code'),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input was refused; nothing was stored. Lists every failing field.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    fieldErrors: t.field({ type: [FieldErrorRef], resolve: (e) => e.issues }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFound',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    resource: t.exposeString('resource'),
    key: t.exposeString('key'),
  }),
});

builder.objectType(AlreadyExistsError, {
  name: 'AlreadyExists',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    resource: t.exposeString('resource'),
    key: t.exposeString('key'),
  }),
});

builder.objectType(InUseError, {
  name: 'InUse',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    resource: t.exposeString('resource'),
    key: t.exposeString('key'),
    usedBy: t.exposeInt('usedBy', { description: 'How many devices use it.' }),
  }),
});

builder.objectType(VersionConflictError, {
  name: 'VersionConflict',
  description: 'The twin moved on since the version the caller read; re-read and retry.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    expectedVersion: t.exposeInt('expectedVersion'),
    currentVersion: t.exposeInt('currentVersion'),
  }),
});
