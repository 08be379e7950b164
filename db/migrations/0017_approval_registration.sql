-- The professional registration an approval was given under, kept with its transition.
--
-- The workflow counts two approvals of a controlled request only from two different
-- registrations, as the users directory held them when each approval arrived. The projection
-- keeps that registration with the approval's transition, so a request read from the
-- projection names the same registrations as the workflow's state, and a later change of a
-- user's registration does not rewrite who approved under which. '' for transitions that are
-- not approvals, and for approvals recorded before this migration (which then named none).
ALTER TABLE request_transitions ADD COLUMN registration text NOT NULL DEFAULT '';
