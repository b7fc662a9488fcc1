import type { RpcConnection } from '@litemq/protocol';

interface ProducerMember {
  connection: RpcConnection;
  lastHeartbeat: number;
}

/** Producer groups → live producer connections, kept for transaction check-backs. */
export class ProducerManager {
  private readonly groups = new Map<string, Map<string, ProducerMember>>();

  constructor(private readonly expiryMs: number) {}

  heartbeat(group: string, clientId: string, connection: RpcConnection, now = Date.now()): void {
    let members = this.groups.get(group);
    if (!members) this.groups.set(group, (members = new Map()));
    members.set(clientId, { connection, lastHeartbeat: now });
  }

  unregister(clientId: string, group?: string): void {
    for (const [name, members] of [...this.groups]) {
      if (group !== undefined && name !== group) continue;
      members.delete(clientId);
      if (members.size === 0) this.groups.delete(name);
    }
  }

  connectionClosed(connection: RpcConnection): void {
    this.removeWhere((member) => member.connection === connection);
  }

  expire(now = Date.now()): void {
    this.removeWhere((member) => now - member.lastHeartbeat > this.expiryMs);
  }

  private removeWhere(predicate: (member: ProducerMember) => boolean): void {
    for (const [name, members] of [...this.groups]) {
      for (const [clientId, member] of [...members]) if (predicate(member)) members.delete(clientId);
      if (members.size === 0) this.groups.delete(name);
    }
  }

  /** Open connections of a producer group's live members. */
  connectionsOf(group: string): RpcConnection[] {
    return [...(this.groups.get(group)?.values() ?? [])].map((member) => member.connection).filter((connection) => !connection.closed);
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }
}
