import type { Logger } from 'pino';
import type { ConsumeFromWhere, ConsumeModel, ConsumeType, NotifyConsumerIdsChangedHeader, RpcConnection, SubscriptionData } from '@litemq/protocol';
import { RequestCode, ResponseCode, rpcFailure } from '@litemq/protocol';

export interface ConsumerMember {
  clientId: string;
  connection: RpcConnection;
  consumeModel: ConsumeModel;
  /** PUSH members divide the queues (GET_CONSUMER_LIST); POP members (SimpleConsumer) share every queue. */
  consumeType: ConsumeType;
  fromWhere: ConsumeFromWhere;
  subscriptions: SubscriptionData[];
  lastHeartbeat: number;
}

/**
 * Live members of every consumer group, known from heartbeats. A member leaves on UNREGISTER_CLIENT,
 * when its connection closes, or after `expiryMs` without a heartbeat; every join or leave sends
 * NOTIFY_CONSUMER_IDS_CHANGED to all remaining members so they rebalance at once.
 */
export class ConsumerManager {
  private readonly groups = new Map<string, Map<string, ConsumerMember>>();
  private closed = false;

  constructor(
    private readonly expiryMs: number,
    private readonly logger: Logger,
  ) {}

  /** Records a heartbeat; returns whether the group's membership changed. */
  heartbeat(group: string, member: Omit<ConsumerMember, 'lastHeartbeat'>, now = Date.now()): boolean {
    // A heartbeat handled after its connection closed (the handler awaits the retry topic first) must not bring
    // back a member that connectionClosed already removed: it would linger until the expiry.
    if (member.connection.closed) return false;
    let members = this.groups.get(group);
    if (!members) this.groups.set(group, (members = new Map()));
    const existing = members.get(member.clientId);
    members.set(member.clientId, { ...member, subscriptions: [...member.subscriptions], lastHeartbeat: now });
    if (existing) return false;
    this.logger.info({ group, clientId: member.clientId }, 'consumer joined');
    this.notify(group);
    return true;
  }

  /** Removes a client from one group (or every group); returns whether anything changed. */
  unregister(clientId: string, group?: string): boolean {
    const groups = group === undefined ? [...this.groups.keys()] : [group];
    let changed = false;
    for (const name of groups) if (this.remove(name, clientId, 'unregistered')) changed = true;
    return changed;
  }

  /** Drops every member that used `connection`. */
  connectionClosed(connection: RpcConnection): void {
    for (const [group, members] of [...this.groups]) {
      for (const member of [...members.values()]) {
        if (member.connection === connection) this.remove(group, member.clientId, 'connection closed');
      }
    }
  }

  /** Drops members silent for longer than the expiry. */
  expire(now = Date.now()): void {
    for (const [group, members] of [...this.groups]) {
      for (const member of [...members.values()]) {
        if (now - member.lastHeartbeat > this.expiryMs) this.remove(group, member.clientId, 'heartbeat expired');
      }
    }
  }

  private remove(group: string, clientId: string, reason: string): boolean {
    const members = this.groups.get(group);
    if (!members?.delete(clientId)) return false;
    if (members.size === 0) this.groups.delete(group);
    this.logger.info({ group, clientId, reason }, 'consumer left');
    this.notify(group);
    return true;
  }

  /** Tells every member of `group` (once per connection) that the membership changed. */
  private notify(group: string): void {
    if (this.closed) return;
    const members = this.groups.get(group);
    if (!members) return;
    const header: NotifyConsumerIdsChangedHeader = { group };
    const told = new Set<RpcConnection>();
    for (const member of members.values()) {
      if (member.connection.closed || told.has(member.connection)) continue;
      told.add(member.connection);
      member.connection.oneway(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, header);
    }
  }

  /** Client ids of a group, sorted (the order clients allocate queues by); only members of the given model and type. */
  clientIds(group: string, consumeModel?: ConsumeModel, consumeType?: ConsumeType): string[] {
    const members = [...(this.groups.get(group)?.values() ?? [])];
    return members
      .filter((member) => (consumeModel === undefined || member.consumeModel === consumeModel) && (consumeType === undefined || member.consumeType === consumeType))
      .map((member) => member.clientId)
      .sort();
  }

  /**
   * Throws CONSUME_TYPE_CONFLICT when `group` has a live member (other than `clientId`) that consumes otherwise than
   * `consumeType`: a group is all push consumers or all simple (pop) consumers. Push rebalancing would hand queues to
   * pop members (they never pull them), and both would move the group's shared offsets.
   */
  assertConsumeType(group: string, consumeType: ConsumeType, clientId?: string): void {
    for (const member of this.groups.get(group)?.values() ?? []) {
      if (member.consumeType === consumeType || member.clientId === clientId) continue;
      const kind = (type: ConsumeType): string => (type === 'POP' ? 'simple (POP)' : 'push (PUSH)');
      throw rpcFailure(
        ResponseCode.CONSUME_TYPE_CONFLICT,
        `consumer group ${group} has live ${kind(member.consumeType)} consumers (client ${member.clientId}); a group cannot mix them with ${kind(consumeType)} consumers: use another group`,
      );
    }
  }

  members(group: string): ConsumerMember[] {
    return [...(this.groups.get(group)?.values() ?? [])];
  }

  /** Topics the group's live members subscribe to. */
  subscribedTopics(group: string): string[] {
    const topics = new Set<string>();
    for (const member of this.groups.get(group)?.values() ?? []) for (const subscription of member.subscriptions) topics.add(subscription.topic);
    return [...topics];
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  /** Stops notifying (the broker is shutting down and closing every connection anyway). */
  close(): void {
    this.closed = true;
  }
}
