-- A deliberately bad schema: each object carries the mistakes named in its
-- comment, and the tests expect exactly those findings. Placeholders as in
-- hardened.sql, plus {{ADMIN}}, an application role with BYPASSRLS.

CREATE TABLE {{AUTH}}.users (id uuid PRIMARY KEY);

GRANT USAGE ON SCHEMA {{S}} TO {{APP}}, {{ANON}};

CREATE FUNCTION {{S}}.uid() RETURNS uuid
    LANGUAGE sql STABLE SET search_path = ''
    AS $$ SELECT (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub')::uuid $$;

-- open_notes: no RLS and readable by anon (readable_without_rls);
-- user_id has no foreign key (missing_fk).
CREATE TABLE {{S}}.open_notes (id bigserial PRIMARY KEY, user_id uuid, body text);
GRANT SELECT, INSERT ON {{S}}.open_notes TO {{ANON}};

-- inbox: no RLS and writable by the app (writable_without_rls).
CREATE TABLE {{S}}.inbox (
    id bigserial PRIMARY KEY,
    user_id uuid REFERENCES {{AUTH}}.users (id) ON DELETE CASCADE,
    body text
);
GRANT INSERT ON {{S}}.inbox TO {{APP}};

-- audit_trail: no RLS, not granted to anyone yet (rls_disabled).
CREATE TABLE {{S}}.audit_trail (id bigserial PRIMARY KEY, entry text);

-- docs: USING (true) for the app (permissive_true, cross_tenant_read),
-- not forced (force_disabled); its foreign key restricts (not_cascade).
CREATE TABLE {{S}}.docs (
    id bigserial PRIMARY KEY,
    user_id uuid REFERENCES {{AUTH}}.users (id) ON DELETE RESTRICT,
    body text
);
ALTER TABLE {{S}}.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_read ON {{S}}.docs FOR SELECT TO {{APP}} USING (true);
CREATE POLICY docs_write ON {{S}}.docs FOR INSERT TO PUBLIC WITH CHECK (true);
GRANT SELECT, INSERT ON {{S}}.docs TO {{APP}};

-- settings: RLS without any policy although the app may read it
-- (no_policy, force_disabled); its foreign key sets NULL (not_cascade).
CREATE TABLE {{S}}.settings (
    user_id uuid REFERENCES {{AUTH}}.users (id) ON DELETE SET NULL,
    k text,
    v text
);
ALTER TABLE {{S}}.settings ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON {{S}}.settings TO {{APP}};

-- owned: owned by the app role, so its good policy does not apply to it
-- (app_role_owns_table, force_disabled, cross_tenant_read).
CREATE TABLE {{S}}.owned (
    id bigserial PRIMARY KEY,
    user_id uuid REFERENCES {{AUTH}}.users (id) ON DELETE CASCADE
);
ALTER TABLE {{S}}.owned ENABLE ROW LEVEL SECURITY;
CREATE POLICY owned_select ON {{S}}.owned FOR SELECT TO {{APP}} USING (user_id = {{S}}.uid());

-- messages: a policy that is not literally true but lets every signed-in
-- user read every row (cross_tenant_read, force_disabled); its foreign key
-- has the default NO ACTION (not_cascade).
CREATE TABLE {{S}}.messages (
    id bigserial PRIMARY KEY,
    user_id uuid REFERENCES {{AUTH}}.users (id),
    body text
);
ALTER TABLE {{S}}.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_read ON {{S}}.messages FOR SELECT TO {{APP}} USING ({{S}}.uid() IS NOT NULL);
GRANT SELECT ON {{S}}.messages TO {{APP}};

-- comments: no tenant column, rows visible to every tenant through a bad
-- policy (cross_tenant_read by comparing row sets, force_disabled).
CREATE TABLE {{S}}.comments (id bigserial PRIMARY KEY, message_id bigint REFERENCES {{S}}.messages (id), body text);
ALTER TABLE {{S}}.comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY comments_read ON {{S}}.comments FOR SELECT TO {{APP}} USING (length(body) > 0);
GRANT SELECT ON {{S}}.comments TO {{APP}};

-- mitigated: a permissive USING (true) narrowed by a restrictive policy on
-- every command: no permissive_true. Forced, cascading: no finding at all.
CREATE TABLE {{S}}.mitigated (
    id bigserial PRIMARY KEY,
    user_id uuid REFERENCES {{AUTH}}.users (id) ON DELETE CASCADE
);
ALTER TABLE {{S}}.mitigated ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.mitigated FORCE ROW LEVEL SECURITY;
CREATE POLICY mitigated_open ON {{S}}.mitigated FOR ALL TO {{APP}} USING (true);
CREATE POLICY mitigated_owner ON {{S}}.mitigated AS RESTRICTIVE FOR ALL TO {{APP}}
    USING (user_id = {{S}}.uid()) WITH CHECK (user_id = {{S}}.uid());
GRANT SELECT, INSERT, UPDATE, DELETE ON {{S}}.mitigated TO {{APP}};

-- members / replies: replies reaches the accounts through members, whose
-- own key does not cascade (not_cascade on both). Both are server-side:
-- RLS on and forced, no privileges for the app.
CREATE TABLE {{S}}.members (user_id uuid PRIMARY KEY REFERENCES {{AUTH}}.users (id) ON DELETE NO ACTION);
CREATE TABLE {{S}}.replies (
    id bigserial PRIMARY KEY,
    user_id uuid REFERENCES {{S}}.members (user_id) ON DELETE CASCADE
);
-- legacy_users / tags: tags.user_id references a table that does not lead
-- to the accounts (missing_fk).
CREATE TABLE {{S}}.legacy_users (id uuid PRIMARY KEY);
CREATE TABLE {{S}}.tags (id bigserial PRIMARY KEY, user_id uuid REFERENCES {{S}}.legacy_users (id) ON DELETE CASCADE);
ALTER TABLE {{S}}.members ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.members FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.replies ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.replies FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.legacy_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.legacy_users FORCE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{S}}.tags FORCE ROW LEVEL SECURITY;

-- all_docs: SECURITY DEFINER, callable by PUBLIC, no search_path
-- (security_definer_function, function_search_path).
CREATE FUNCTION {{S}}.all_docs() RETURNS SETOF {{S}}.docs
    LANGUAGE sql STABLE SECURITY DEFINER
    AS $$ SELECT * FROM {{S}}.docs $$;

-- slugify: invoker, but no search_path (function_search_path).
CREATE FUNCTION {{S}}.slugify(t text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT lower(replace(t, ' ', '-')) $$;

-- message_feed: a view without security_invoker, owned by the superuser
-- that created it, over RLS tables (security_definer_view).
CREATE VIEW {{S}}.message_feed AS SELECT m.id, m.body FROM {{S}}.messages m JOIN {{S}}.owned o ON o.user_id = m.user_id;
GRANT SELECT ON {{S}}.message_feed TO {{APP}};

-- message_stats: a materialized view of an RLS table readable by anon
-- (materialized_view_exposed).
CREATE MATERIALIZED VIEW {{S}}.message_stats AS SELECT user_id, count(*) AS n FROM {{S}}.messages GROUP BY user_id;
GRANT SELECT ON {{S}}.message_stats TO {{ANON}};

INSERT INTO {{AUTH}}.users (id) VALUES ('{{TENANT_A}}'), ('{{TENANT_B}}');
INSERT INTO {{S}}.docs (user_id, body) VALUES ('{{TENANT_A}}', 'a'), ('{{TENANT_B}}', 'b');
INSERT INTO {{S}}.owned (user_id) VALUES ('{{TENANT_A}}'), ('{{TENANT_B}}');
INSERT INTO {{S}}.messages (user_id, body) VALUES ('{{TENANT_A}}', 'a'), ('{{TENANT_B}}', 'b');
INSERT INTO {{S}}.comments (message_id, body) SELECT id, 'on ' || body FROM {{S}}.messages;
INSERT INTO {{S}}.mitigated (user_id) VALUES ('{{TENANT_A}}'), ('{{TENANT_B}}');
REFRESH MATERIALIZED VIEW {{S}}.message_stats;

-- The table owned by the app role (last, so the inserts above ran as the
-- superuser that creates the fixture).
ALTER TABLE {{S}}.owned OWNER TO {{APP}};
