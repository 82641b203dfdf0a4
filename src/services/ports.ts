export interface DeviceSessions { disconnect(deviceId: string): Promise<boolean>; retireSessions(deviceId: string, at: number): void; clearRetained(deviceId: string): Promise<void> }
