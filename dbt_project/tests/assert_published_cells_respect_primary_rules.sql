-- No published cell breaks its indicator's rule: counts (and rates' numerators) of at
-- least min_cell, and at least min_respondents respondents (or persons) behind survey
-- figures and shares.
select
    published.indicator_id,
    published.area_id,
    published.period_id,
    published.numerator,
    published.n
from {{ ref('fct_indicator_values') }} as published
inner join {{ ref('dim_indicator') }} as indicators
    on published.indicator_id = indicators.indicator_id
where
    not published.suppressed
    and published.value is not null
    and (
        (
            indicators.indicator_kind in ('count', 'rate')
            and published.numerator < indicators.min_cell
        )
        or (indicators.indicator_kind like 'survey%' and published.n < indicators.min_respondents)
        or (
            indicators.indicator_kind = 'share'
            and (
                published.numerator < indicators.min_cell
                or published.denominator < indicators.min_respondents
            )
        )
    )
