/**
 * A MeatLizard-shaped database for the demo: users, sessions, messages, logs, generated in SQL so a few hundred
 * thousand rows take a second or two, with the awkward data a real chat platform has (unicode, newlines, tabs,
 * backslashes, jsonb).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from 'pg';
import { mapBounded } from '../util/pool';

export interface SeedSize {
  users: number;
  sessions: number;
  messages: number;
  logs: number;
}

export const DEFAULT_SEED: SeedSize = { users: 5_000, sessions: 20_000, messages: 250_000, logs: 60_000 };

export const SCHEMA_SQL = `
create type message_role as enum ('user', 'assistant', 'system');
create table users (
  id bigint generated always as identity primary key,
  discord_id text not null unique,
  display_name text not null,
  created_at timestamptz not null default now()
);
create table sessions (
  id bigint generated always as identity primary key,
  user_id bigint not null references users(id),
  model text not null,
  started_at timestamptz not null,
  settings jsonb not null default '{}'
);
create table messages (
  id bigint generated always as identity primary key,
  session_id bigint not null references sessions(id),
  role message_role not null,
  content text not null,
  created_at timestamptz not null
);
create index messages_session_idx on messages (session_id, created_at);
create table logs (
  id bigint generated always as identity primary key,
  level text not null check (level in ('debug', 'info', 'warn', 'error')),
  message text not null,
  context jsonb,
  logged_at timestamptz not null
);
create view user_message_counts as
  select u.id as user_id, u.display_name, count(m.id) as messages
  from users u left join sessions s on s.user_id = u.id left join messages m on m.session_id = s.id
  group by u.id, u.display_name;
`;

/** Creates the schema and fills it; returns the row counts per table. */
export async function seedDatabase(client: Client, size: SeedSize = DEFAULT_SEED): Promise<Record<string, number>> {
  await client.query(SCHEMA_SQL);
  await client.query(
    `insert into users (discord_id, display_name, created_at)
       select 'discord-' || g, (array['Ada','Ørjan','Zoë','李雷','Nadia','Émile'])[1 + g % 6] || ' #' || g,
              timestamptz '2025-01-01' + g * interval '7 minutes'
       from generate_series(1, $1::int) g`,
    [size.users],
  );
  await client.query(
    `insert into sessions (user_id, model, started_at, settings)
       select 1 + g % $2::int, (array['meatlizard-7b','meatlizard-70b','llama-3'])[1 + g % 3],
              timestamptz '2025-03-01' + g * interval '3 minutes',
              jsonb_build_object('temperature', (g % 10) / 10.0, 'stream', g % 2 = 0)
       from generate_series(1, $1::int) g`,
    [size.sessions, size.users],
  );
  await client.query(
    `insert into messages (session_id, role, content, created_at)
       select 1 + g % $2::int, (array['user','assistant','system'])[1 + g % 3]::message_role,
              case g % 4
                when 0 then 'hello lizard #' || g
                when 1 then E'line one\\nline two\\twith tab #' || g
                when 2 then 'path C:\\\\meat\\\\lizard 🦎 #' || g
                else repeat('the quick brown lizard ', 1 + g % 12) || g
              end,
              timestamptz '2025-03-01' + g * interval '20 seconds'
       from generate_series(1, $1::int) g`,
    [size.messages, size.sessions],
  );
  await client.query(
    `insert into logs (level, message, context, logged_at)
       select (array['debug','info','warn','error'])[1 + g % 4], 'event ' || g,
              case when g % 5 = 0 then null else jsonb_build_object('request', g, 'ms', g % 997) end,
              timestamptz '2025-03-01' + g * interval '1 minute'
       from generate_series(1, $1::int) g`,
    [size.logs],
  );
  await client.query('analyze');
  return countRows(client);
}

export async function countRows(client: Client): Promise<Record<string, number>> {
  const { rows } = await client.query<{ users: string; sessions: string; messages: string; logs: string }>(
    `select (select count(*) from users) as users, (select count(*) from sessions) as sessions,
            (select count(*) from messages) as messages, (select count(*) from logs) as logs`,
  );
  return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
}

/** Chat transcripts as the platform stores them: one JSON object per session under transcripts/. */
export async function seedTranscripts(s3: S3Client, bucket: string, count: number): Promise<{ objects: number; bytes: number }> {
  let bytes = 0;
  await mapBounded(Array.from({ length: count }, (_, i) => i + 1), 16, async (n) => {
    const body = JSON.stringify({
      session: n,
      model: 'meatlizard-7b',
      messages: [
        { role: 'user', content: `Hello, lizard #${n} 🦎` },
        { role: 'assistant', content: `Hello! Transcript ${n} — ünïcödé and "quotes" kept.` },
      ],
    });
    bytes += Buffer.byteLength(body);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `transcripts/2025/session-${String(n).padStart(5, '0')}.json`,
        Body: body,
        ContentType: 'application/json',
        Metadata: { session: String(n) },
        Tagging: 'kind=transcript',
      }),
    );
  });
  return { objects: count, bytes };
}
