-- Stripe's Accounts v2: a checkout session may name its customer as an Account
-- (`customer_account`, acct_…) with `customer` null. Both references are kept: the
-- customer is `stripe_customer_id`, or `stripe_customer_account_id` when that is null.
ALTER TABLE customer_accounts ADD COLUMN stripe_customer_account_id text;
