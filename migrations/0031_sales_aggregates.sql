-- The sales dashboard's aggregates (issue 20): the opportunities counted by day, owner and
-- branch, kept exact by triggers on `opportunities` (installed, and the tables filled, by
-- `reports::figures::ensure` at start-up: the triggers differ between the backends, and the
-- days are those of the business's time zone, a setting).

-- The zone (and version of the triggers) the figures are built for: one row, id 1.
CREATE TABLE report_zone (
    id BIGINT NOT NULL PRIMARY KEY,
    built_for TEXT NOT NULL,
    built_at BIGINT NOT NULL
);

-- Each local midnight of the business's time zone (as ms): a timestamp's day is the latest
-- midnight at or before it.
CREATE TABLE report_days (
    day_start BIGINT NOT NULL PRIMARY KEY
);

-- `kind`: `pipeline` (every live opportunity by status, `day` 0), `created` (by the day it was
-- opened, with how many of them reached each stage), `booked` (by the first meeting's day, with
-- how many showed), `sold`, `lost` (by status) and `expired` (by that date's day). Only the
-- opportunities out of the trash; no owner or branch is 0.
CREATE TABLE sales_figures (
    kind TEXT NOT NULL,
    day BIGINT NOT NULL,
    owner_id BIGINT NOT NULL,
    branch_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    booked BIGINT NOT NULL,
    showed BIGINT NOT NULL,
    sold BIGINT NOT NULL,
    lost BIGINT NOT NULL,
    PRIMARY KEY (kind, day, owner_id, branch_id, status)
);
