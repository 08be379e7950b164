-- A version for every request view, and a notification of every change of it.
--
-- version grows with every change of a request's projection row. Every change of what
-- GET /v1/requests/{id} shows (status, approvals, vends, deadlines: each a transition)
-- updates that row, so a client that read version n can ask to be answered when it is no
-- longer n (?wait=&version=) instead of polling.
--
-- The notification carries "<id> <version>" on the channel pyxis_request_changed. NOTIFY is
-- sent at commit, only if the transaction commits, and to every listening session of the
-- cluster: the api replica that holds a waiter hears of a change written by any worker.
ALTER TABLE medication_requests ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);

CREATE FUNCTION medication_request_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER medication_requests_version BEFORE UPDATE ON medication_requests
    FOR EACH ROW EXECUTE FUNCTION medication_request_version();

CREATE FUNCTION medication_request_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pyxis_request_changed', NEW.id || ' ' || NEW.version);
    RETURN NULL;
END;
$$;
CREATE TRIGGER medication_requests_changed AFTER INSERT OR UPDATE ON medication_requests
    FOR EACH ROW EXECUTE FUNCTION medication_request_changed();
