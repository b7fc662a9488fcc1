import { describe, expect, it } from 'vitest';
import type { CronFiring } from '../src/index.js';
import { CronScheduler, DelayErrorCode, TimerFlag, TimerStore, cronMessageId, nextOccurrences } from '../src/index.js';
import { tempDir, until } from './helpers.js';

async function open(dir: string, published: CronFiring[], grace = 1_000) {
  const timers = TimerStore.open(`${dir}/timer`);
  const ids = new Set(published.map((firing) => firing.msgId));
  const cron = await CronScheduler.open(`${dir}/cron`, {
    timers,
    misfireGraceMs: grace,
    publish: async (firings) => {
      for (const firing of firings) {
        published.push(firing);
        ids.add(firing.msgId);
      }
    },
    exists: async (msgId) => ids.has(msgId),
  });
  timers.onDue((due) => cron.handleDue(due.filter((timer) => (timer.flags & TimerFlag.CRON) !== 0)));
  return { timers, cron };
}

const template = { body: 'tick', keys: ['k1'], tags: 'T', properties: { a: '1' } };

describe('CronScheduler', () => {
  it('fires a per-second job once per second with deterministic ids', async () => {
    const published: CronFiring[] = [];
    const { timers, cron } = await open(tempDir(), published);
    cron.put({ id: 'every-second', cron: '* * * * * *', topic: 'T', template });
    await until(() => published.length >= 3, 5_000);
    const times = published.map((firing) => firing.scheduledAt);
    expect(times[1]! - times[0]!).toBe(1_000);
    expect(times[2]! - times[1]!).toBe(1_000);
    expect(published[0]!.msgId).toBe(cronMessageId('every-second', times[0]!));
    cron.close();
    await timers.close();
  });

  it('validates expressions and time zones with clear errors', async () => {
    const { timers, cron } = await open(tempDir(), []);
    expect(() => cron.put({ id: 'bad', cron: '61 * * * * *', topic: 'T', template })).toThrow(expect.objectContaining({ code: DelayErrorCode.CRON_INVALID, message: expect.stringContaining('invalid cron expression') }));
    expect(() => cron.put({ id: 'bad', cron: '* * * * * *', timezone: 'Mars/Base', topic: 'T', template })).toThrow(/unknown time zone "Mars\/Base"/);
    expect(() => cron.pause('missing')).toThrow(expect.objectContaining({ code: DelayErrorCode.CRON_NOT_FOUND }));
    cron.close();
    await timers.close();
  });

  it('reads the expression in the job time zone', () => {
    const from = Date.UTC(2024, 0, 1, 0, 0, 0);
    expect(nextOccurrences({ cron: '0 0 9 * * *', timezone: 'Asia/Kolkata' }, 1, from)).toEqual([Date.UTC(2024, 0, 1, 3, 30, 0)]);
  });

  it('after an outage: fire-once publishes one catch-up, skip publishes none, and nothing fires twice', async () => {
    const dir = tempDir();
    const published: CronFiring[] = [];
    let { timers, cron } = await open(dir, published, 300);
    cron.put({ id: 'once', cron: '* * * * * *', topic: 'T', template, misfirePolicy: 'fire-once' });
    cron.put({ id: 'skip', cron: '* * * * * *', topic: 'T', template, misfirePolicy: 'skip' });
    await until(() => published.filter((f) => f.job.id === 'skip').length >= 1 && published.filter((f) => f.job.id === 'once').length >= 1, 5_000);
    cron.close();
    await timers.close();
    const before = published.length;
    const stoppedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the outage
    ({ timers, cron } = await open(dir, published, 300));
    const catchUp = published.slice(before).filter((f) => f.catchUp);
    expect(catchUp.map((f) => f.job.id)).toEqual(['once']);
    expect(catchUp[0]!.scheduledAt).toBeGreaterThan(stoppedAt);
    await until(() => published.slice(before).filter((f) => f.job.id === 'skip').length >= 1, 5_000);
    const skipAfter = published.slice(before).filter((f) => f.job.id === 'skip');
    expect(skipAfter[0]!.scheduledAt).toBeGreaterThan(stoppedAt + 2_000);
    expect(new Set(published.map((f) => f.msgId)).size).toBe(published.length);
    expect(cron.list().total).toBe(2);
    cron.pause('once');
    expect(cron.get('once')!.enabled).toBe(false);
    cron.close();
    await timers.close();
  });
});
