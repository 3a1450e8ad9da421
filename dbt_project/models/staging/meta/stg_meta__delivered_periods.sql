-- One row per received file and period it covers. A file whose rows say their period
-- (period.column) can cover several: each period gets the rows the file held for it, so
-- health judges every period it owes, not only files named after one period.
with ledger as (
    select * from {{ ref('stg_meta__file_ledger') }}
),

per_period as (
    select
        ledger.load_id,
        ledger.feed_id,
        ledger.partner_id,
        ledger.received_at,
        ledger.file_status,
        struct_extract(period_rows.period_row, 'period') as delivery_period,
        struct_extract(period_rows.period_row, 'rows_accepted') as rows_accepted,
        struct_extract(period_rows.period_row, 'rows_rejected') as rows_rejected
    from ledger,
        unnest(ledger.period_rows) as period_rows (period_row)
    where ledger.period_rows is not null
),

per_file as (
    select
        load_id,
        feed_id,
        partner_id,
        received_at,
        file_status,
        delivery_period,
        rows_accepted,
        rows_rejected
    from ledger
    where period_rows is null
)

select * from per_period
union all
select * from per_file
