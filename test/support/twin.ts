/** GraphQL documents the twin end-to-end suites share (typed by `npm run codegen`). */
import { graphql } from '../generated/gql.ts';

export const Register = graphql(`
  mutation Register($input: RegisterDeviceInput!) {
    registerDevice(input: $input) {
      __typename
      ... on DeviceWithCredentials {
        device { id deviceId name tags model { name } twin { version } }
        credentials { username password }
      }
      ... on Error { code message }
      ... on ValidationError { fieldErrors { path code message } }
    }
  }
`);

export const TwinQuery = graphql(`
  query Twin($deviceId: String!) {
    device(deviceId: $deviceId) {
      deviceId
      connected
      lastSeenAt
      twin { version reported desired delta metadata updatedAt }
    }
  }
`);
