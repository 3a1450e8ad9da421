"""The indicator mart: dbt models generated from the city's contracts and agenda, plus
the hand-written generic models in ``dbt_project/``."""
