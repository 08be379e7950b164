-- A version for every request view, and a notification of every change of it.
--
-- A view's version is its projection row's version plus its cabinet delivery's changes
-- (GetRequestDetail). The row's grows with every change of it: every change of what
-- GET /v1/requests/{id} shows (status, approvals, vends, deadlines: each a transition)
-- updates that row. The cabinet delivery (cabinet_deliveries, migration 0010: the attempts of
-- a command the cabinet has not acknowledged) changes beside it, written by the activity
-- without the request's row, and counts its own changes: locking the request's row from
-- there would order the locks against the steps' and deadlock. Both only grow, and a
-- delivery row is never deleted, so the sum only grows. A client that read version n can
-- ask to be answered when it is no longer n (?wait=&version=) instead of polling.
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

ALTER TABLE cabinet_deliveries ADD COLUMN changes bigint NOT NULL DEFAULT 1 CHECK (changes > 0);

CREATE FUNCTION cabinet_delivery_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changes := OLD.changes + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER cabinet_deliveries_changes BEFORE UPDATE ON cabinet_deliveries
    FOR EACH ROW EXECUTE FUNCTION cabinet_delivery_changes();

CREATE FUNCTION cabinet_delivery_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pyxis_request_changed', NEW.request_id || ' ' || NEW.changes);
    RETURN NULL;
END;
$$;
CREATE TRIGGER cabinet_deliveries_changed AFTER INSERT OR UPDATE ON cabinet_deliveries
    FOR EACH ROW EXECUTE FUNCTION cabinet_delivery_changed();
