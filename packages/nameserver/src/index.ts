export * from './errors.js';
export * from './options.js';
export * from './request-validation.js';
export * from './route-registry.js';
export * from './name-server.js';
