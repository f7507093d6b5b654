-- Where a namespace wants its invoices sent (Quay's `invoice_email` and
-- `invoice_email_address`). Berth bills no one, but clients set and read
-- these through the organization and user APIs.
ALTER TABLE accounts ADD COLUMN invoice_email BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN invoice_email_address TEXT;
