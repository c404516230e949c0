/**
 * Internal: clients of ours connected and not yet disconnected, by kind. Tests and leak checks
 * import this module directly; it is not part of `rxdata/kafka`.
 */
export const openClients = { consumer: 0, admin: 0, producer: 0 };
