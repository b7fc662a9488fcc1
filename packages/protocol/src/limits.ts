/** Default limits of the message model; brokers may lower or raise them through configuration. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Topic, tags, keys and all properties of one message together. */
export const DEFAULT_MAX_PROPERTIES_BYTES = 32 * 1024;
export const MAX_NAME_LENGTH = 127;
export const MAX_TAGS_BYTES = 255;
export const MAX_PROPERTY_NAME_BYTES = 64;
