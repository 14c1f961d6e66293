// The README's walkthrough as a frontend team would write it, typed from the committed OpenAPI
// document: `.ci/typed-client-check` generates `keyholder.d.ts` with openapi-typescript and
// compiles this file with `tsc --noEmit` (strict). A renamed field, a list that stops answering
// `{items, …}` or a changed request body fails the check.

import type { components, paths } from "./keyholder";

type Schemas = components["schemas"];

/** The JSON body a route answers with the given status. */
type Answer<
  P extends keyof paths,
  M extends keyof paths[P],
  S extends number,
> = paths[P][M] extends {
  responses: { [K in S]: { content: { "application/json": infer B } } };
}
  ? B
  : never;

/** The JSON body a route takes. */
type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody: { content: { "application/json": infer B } };
}
  ? B
  : never;

/** An audit entry's `changes` is an open object a client can read (`{field: [before, after]}`). */
type ChangesAreOpen = Record<string, unknown> extends Schemas["AuditEntryOut"]["changes"] ? true : false;
export const changesAreOpen: ChangesAreOpen = true;

const BASE = "http://127.0.0.1:8080";

async function call<T>(
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
  path: string,
  token: string | null,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers["authorization"] = `Bearer ${token}`;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(`${BASE}${path}`, init);
  if (!r.ok) {
    const problem = (await r.json()) as Schemas["Problem"];
    throw new Error(`${problem.status} ${problem.code}: ${problem.detail ?? problem.title}`);
  }
  return (r.status === 204 ? undefined : await r.json()) as T;
}

/** Steps 1-6 of the README, given the printed password and an authenticator. */
export async function walkthrough(
  password: string,
  totp: (secret: string, stepsAhead: number) => string,
): Promise<void> {
  // 1. Log in with the password: a session without a second factor.
  const login: Body<"/v1/auth/login", "post"> = {
    org: "demo",
    login: "dsl@demo.school",
    password,
  };
  const first = await call<Answer<"/v1/auth/login", "post", 200>>(
    "POST",
    "/v1/auth/login",
    null,
    login,
  );
  const lowOnly: boolean = !first.second_factor;

  // 2. Enrol a key.
  const setup = await call<Answer<"/v1/me/totp/setup", "post", 200>>(
    "POST",
    "/v1/me/totp/setup",
    first.access_token,
  );
  const confirm: Body<"/v1/me/totp/confirm", "post"> = { code: totp(setup.secret, 0) };
  const codes = await call<Answer<"/v1/me/totp/confirm", "post", 200>>(
    "POST",
    "/v1/me/totp/confirm",
    first.access_token,
    confirm,
  );
  const recovery: string[] = codes.recovery_codes;

  // 3. Log in with a code.
  const keyed = await call<Answer<"/v1/auth/login", "post", 200>>("POST", "/v1/auth/login", null, {
    ...login,
    totp_code: totp(setup.secret, 1),
  } satisfies Body<"/v1/auth/login", "post">);
  const token = keyed.access_token;
  const me = await call<Answer<"/v1/me", "get", 200>>("GET", "/v1/me", token);
  const who: { email: string | null | undefined; admin: boolean } = {
    email: me.email,
    admin: me.admin,
  };

  // 4. List users, filtered and sorted.
  const users = await call<Answer<"/v1/orgs/{org}/users", "get", 200>>(
    "GET",
    "/v1/orgs/demo/users?sort=user_group&per_page=5",
    token,
  );
  const rows: { name: string; group: string; status: string }[] = users.items.map((u) => ({
    name: `${u.forename} ${u.surname}`,
    group: u.user_group_name,
    status: u.status,
  }));
  const total: number = users.total;

  // 5. Create a user in the Teachers group.
  const groups = await call<Answer<"/v1/orgs/{org}/user-groups", "get", 200>>(
    "GET",
    "/v1/orgs/demo/user-groups?q=teachers",
    token,
  );
  const teachers = groups.items.find((g) => g.name === "Teachers");
  if (teachers === undefined) throw new Error("no Teachers group");
  const nadia: Body<"/v1/orgs/{org}/users", "post"> = {
    email: "new.teacher@demo.school",
    forename: "Nadia",
    surname: "Okafor",
    job_title: "Year 3 Teacher",
    user_group_id: teachers.id,
    password: "first day in year three",
    must_change_password: true,
  };
  const created = await call<Answer<"/v1/orgs/{org}/users", "post", 201>>(
    "POST",
    "/v1/orgs/demo/users",
    token,
    nadia,
  );
  const mustChange: boolean = created.must_change_password;

  // 6. Invite someone from an eligible staff record; the audit trail shows each step.
  const staff = await call<Answer<"/v1/orgs/{org}/staff", "get", 200>>(
    "GET",
    "/v1/orgs/demo/staff?eligible_for_account=true&q=shah",
    token,
  );
  const priya = staff.items[0];
  if (priya === undefined) throw new Error("no eligible staff record");
  await call<Answer<"/v1/orgs/{org}/users", "post", 201>>("POST", "/v1/orgs/demo/users", token, {
    staff_ids: [priya.id],
    user_group_id: teachers.id,
    send_invitation: true,
  } satisfies Body<"/v1/orgs/{org}/users", "post">);
  const audit = await call<Answer<"/v1/orgs/{org}/audit", "get", 200>>(
    "GET",
    "/v1/orgs/demo/audit?limit=5",
    token,
  );
  const trail: { at: string; type: string; changes: Record<string, unknown> }[] = audit.items.map(
    (e) => ({ at: e.at, type: e.type, changes: e.changes }),
  );
  const verified = await call<Answer<"/v1/orgs/{org}/audit/verify", "get", 200>>(
    "GET",
    "/v1/orgs/demo/audit/verify",
    token,
  );
  const chain: { valid: boolean; first_bad_id: string | null | undefined } = {
    valid: verified.valid,
    first_bad_id: verified.first_bad_id,
  };

  // The lists that answer the one envelope (issue 13).
  const sessions = await call<Answer<"/v1/me/sessions", "get", 200>>("GET", "/v1/me/sessions", token);
  const categories = await call<Answer<"/v1/orgs/{org}/categories", "get", 200>>(
    "GET",
    "/v1/orgs/demo/categories",
    token,
  );
  const paged: number[] = [sessions.total, categories.total, sessions.items.length];

  console.log({ lowOnly, recovery, who, rows, total, mustChange, trail, chain, paged });
}
