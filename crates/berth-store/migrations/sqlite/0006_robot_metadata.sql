-- Free-form JSON a robot's creator attached to it (Quay's
-- `unstructured_metadata`); one row per robot that has any.
CREATE TABLE robot_metadata (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    metadata TEXT NOT NULL
);
