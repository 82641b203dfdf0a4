/**
 * What services need from the edges, declared here so a service can depend on it without importing
 * src/mqtt (layer rule: services never import mqtt). The app (src/server.ts) hands in implementations.
 */

/** A device's live broker sessions and the server's retained messages for it. */
export interface DeviceSessions {
  /**
   * Kicks the device off the broker: closes every session it has open. `true` when it had any.
   * External brokers: `false` (Mosquitto's dynamic-security sync or the broker's own auth kicks there).
   */
  disconnect(deviceId: string): Promise<boolean>;
  /**
   * The sessions the device has open now were opened with a secret that stops working at `at` (epoch
   * ms, the end of a rotation grace period): close them then. Sessions opened later are not affected.
   */
  retireSessions(deviceId: string, at: number): void;
  /** Clears the retained messages the server published for the device (after its deletion). */
  clearRetained(deviceId: string): Promise<void>;
}
