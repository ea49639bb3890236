export { createIntrospectionClient, type IntrospectionClient, type IntrospectionClientOptions } from './client.js';
export { parseIntrospectionResponse, type IntrospectionOutcome, type RefusalCode } from './response.js';
export { discoverIntrospectionEndpoint } from './discovery.js';
