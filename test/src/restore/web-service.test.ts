import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { parseServiceRef, withWebServiceStopped } from '../../../src/restore/web-service';

const ecsMock = mockClient(ECSClient);
const ecs = new ECSClient({ region: 'eu-west-1' });
const web = { cluster: 'meat-cluster', service: 'web' };
const TASK = 'arn:aws:ecs:eu-west-1:111122223333:task/meat-cluster/0123456789abcdef';

/** A service with `desired` tasks that stop one poll after being told to. */
function serviceThatStops(desired: number): void {
  let scaledDown = false;
  let polls = 0;
  ecsMock.on(DescribeServicesCommand).callsFake(() => {
    const gone = scaledDown && polls++ > 0;
    return { services: [{ status: 'ACTIVE', desiredCount: scaledDown ? 0 : desired, runningCount: gone ? 0 : desired, pendingCount: 0 }] };
  });
  ecsMock.on(ListTasksCommand).callsFake(() => ({ taskArns: scaledDown && polls > 1 ? [] : desired > 0 ? [TASK] : [] }));
  ecsMock.on(DescribeTasksCommand).callsFake(() => ({ tasks: [{ taskArn: TASK, lastStatus: scaledDown && polls > 1 ? 'STOPPED' : 'DEACTIVATING' }] }));
  ecsMock.on(UpdateServiceCommand).callsFake((input: { desiredCount: number }) => {
    if (input.desiredCount === 0) scaledDown = true;
    return {};
  });
}

const updates = (): unknown[] => ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input);

beforeEach(() => ecsMock.reset());

describe('GIVEN a web service given as --stop-ecs-service', () => {
  test.each([
    ['meat-cluster/web', { cluster: 'meat-cluster', service: 'web' }],
    ['arn:aws:ecs:eu-west-1:111122223333:cluster/meat-cluster/web', { cluster: 'arn:aws:ecs:eu-west-1:111122223333:cluster/meat-cluster', service: 'web' }],
    ['arn:aws:ecs:eu-west-1:111122223333:service/meat-cluster/web', { cluster: 'meat-cluster', service: 'arn:aws:ecs:eu-west-1:111122223333:service/meat-cluster/web' }],
  ])('WHEN it is %s THEN it names the cluster and the service', (value, expected) => {
    expect(parseServiceRef(value)).toEqual(expected);
  });

  test.each(['web', '/web', 'meat-cluster/', 'a/b/c', 'meat cluster/web'])('WHEN it is %j THEN it is a usage error', (value) => {
    expect(() => parseServiceRef(value)).toThrow(/is not CLUSTER\/SERVICE/);
  });
});

describe('GIVEN a running web service', () => {
  test('WHEN the work succeeds THEN the service was scaled to 0, its tasks waited for, and its desired count set back', async () => {
    serviceThatStops(3);
    let updatesDuringWork: unknown[] = [];
    const out = await withWebServiceStopped(ecs, web, async () => {
      updatesDuringWork = updates();
      return 'swapped';
    }, { pollMs: 1 });

    expect(out).toEqual({ result: 'swapped', desiredCount: 3 });
    expect(updatesDuringWork).toEqual([{ cluster: 'meat-cluster', service: 'web', desiredCount: 0 }]);
    expect(updates()).toEqual([
      { cluster: 'meat-cluster', service: 'web', desiredCount: 0 },
      { cluster: 'meat-cluster', service: 'web', desiredCount: 3 },
    ]);
    // It waited for the task to reach STOPPED, not just for the desired count.
    expect(ecsMock.commandCalls(DescribeTasksCommand).length).toBeGreaterThanOrEqual(2);
  });

  test('WHEN the work fails THEN the service still gets its remembered count back and the work\'s error is what is thrown', async () => {
    serviceThatStops(2);
    await expect(withWebServiceStopped(ecs, web, async () => {
      throw new Error('swap failed');
    }, { pollMs: 1 })).rejects.toThrow('swap failed');
    expect(updates()).toEqual([
      { cluster: 'meat-cluster', service: 'web', desiredCount: 0 },
      { cluster: 'meat-cluster', service: 'web', desiredCount: 2 },
    ]);
  });

  test('WHEN it cannot be started again THEN the error says the restore finished and gives the command to start it by hand', async () => {
    serviceThatStops(2);
    ecsMock.on(UpdateServiceCommand, { desiredCount: 2 }).rejects(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
    await expect(withWebServiceStopped(ecs, web, async () => 'swapped', { pollMs: 1 })).rejects.toThrow(
      'the restore finished but could not start web service meat-cluster/web: ThrottlingException: throttled; start it by hand: aws ecs update-service --cluster meat-cluster --service web --desired-count 2',
    );
  });

  test('WHEN the process is interrupted while waiting THEN the service is started again', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [{ status: 'ACTIVE', desiredCount: 2, runningCount: 2, pendingCount: 0 }] });
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [TASK] });
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK, lastStatus: 'RUNNING' }] });
    ecsMock.on(UpdateServiceCommand).resolves({});
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('interrupted by SIGTERM')), 50);
    await expect(withWebServiceStopped(ecs, web, async () => 'never', { pollMs: 10, signal: controller.signal })).rejects.toThrow('interrupted by SIGTERM');
    expect(updates().map((u) => (u as { desiredCount: number }).desiredCount)).toEqual([0, 2]);
  });
});

describe('GIVEN a web service that is already at 0', () => {
  test('WHEN the work runs THEN the service is not touched', async () => {
    serviceThatStops(0);
    await withWebServiceStopped(ecs, web, async () => 'ok', { pollMs: 1 });
    expect(updates()).toEqual([]);
  });
});

describe('GIVEN a web service that does not exist', () => {
  test('WHEN asked to stop it THEN nothing is changed and the error says to check the setting', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: 'web', reason: 'MISSING' }] });
    const work = jest.fn();
    await expect(withWebServiceStopped(ecs, web, work, { pollMs: 1 })).rejects.toThrow('web service meat-cluster/web does not exist: check --stop-ecs-service or WEB_SERVICE');
    expect(work).not.toHaveBeenCalled();
    expect(updates()).toEqual([]);
  });
});
