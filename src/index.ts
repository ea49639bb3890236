/**
 * The gateway's public API (`gatehouse` and `gatehouse/gateway`).
 */
export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { loadConfigFile, parseConfigText, validateConfig } from './config/load.js';
export type { Config, ConfigInput, RouteConfig, JwtIssuerConfig } from './config/schema.js';
export { GatehouseError, ConfigError, ERROR_CATALOG, type ErrorCode, type ProblemDetails } from './errors.js';
export { GatewayMetrics } from './admin/metrics.js';
export { createLogger, type Logger } from './log.js';
export type { Authenticator, AuthnResult, Credential, RequestContext, Identity } from './pipeline/context.js';
export { AUTH_KINDS, type AuthKind, type AuthKindContext, type AuthKindFactory } from './pipeline/authenticate/index.js';
