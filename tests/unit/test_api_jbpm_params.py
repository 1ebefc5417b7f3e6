"""Query parameters and paging of the jBPM dialect, as kie-remote's ResourceBase reads them."""

import pytest

from deployunits.api.jbpm import params
from deployunits.api.jbpm.params import PageInfo, ParamError
from deployunits.models.deploymentunit import MergeMode, RuntimeStrategy

OP = "/business-central/rest/deployment/"


def info(query: str) -> PageInfo:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return params.page_info([(k, v) for k, v in pairs], OP)


@pytest.mark.parametrize(
    ("query", "page", "size"),
    [
        ("", 0, 0),
        ("page=2&pagesize=5", 2, 5),
        ("p=3&s=4", 3, 4),
        ("PAGE=2&PageSize=5", 2, 5),
        ("page=2&p=9&pagesize=5&s=9", 2, 5),  # the long names win
        ("pagesize=5", 0, 5),  # size only: page 1 when paginating
        ("page=3", 0, 0),  # page without size: no paging
        ("pagesize=0&page=3", 0, 0),
        ("page=2i&s=10l", 2, 10),
        ("page=4294967297&s=3", 1, 3),  # narrowed to a Java int
    ],
)
def test_page_info(query: str, page: int, size: int) -> None:
    assert info(query) == PageInfo(page, size)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "page=1&page=2",
            f"One and only one 'page' query parameter required for '{OP}' operation (2 passed).",
        ),
        ("s=x", "s parameter does not have a numerical format (x)"),
        ("pagesize=-1", "pagesize parameter does not have a numerical format (-1)"),
        ("p=1234567890i", "p parameter is numerical but too large to be an integer (1234567890i)"),
        (
            "s=1234567890123456789",
            "s parameter is numerical but too large to be a long (1234567890123456789)",
        ),
    ],
)
def test_bad_paging_parameters(query: str, message: str) -> None:
    with pytest.raises(ParamError) as raised:
        info(query)
    assert str(raised.value) == message


def test_pagination() -> None:
    items = list(range(25))
    assert params.paginate(items, PageInfo(0, 0)) == (items, None, None)
    assert params.paginate(items, PageInfo(0, 10)) == (list(range(10)), 1, 10)
    assert params.paginate(items, PageInfo(3, 10)) == (list(range(20, 25)), 3, 10)
    assert params.paginate(items, PageInfo(4, 10)) == ([], 4, 10)


def test_unpaged_results_stop_at_1000() -> None:
    many = list(range(1500))
    assert len(params.capped(many, PageInfo(0, 0))) == 1000
    assert len(params.capped(many, PageInfo(0, 5))) == 1000  # size only: page*size is 0
    assert params.capped(many, PageInfo(2, 5)) == list(range(10))


def test_single_values_and_texts() -> None:
    query = [("Strategy", "per_request"), ("mergemode", "keep_all")]
    assert params.single(query, "strategy", OP) == "per_request"
    assert params.single(query, "MergeMode", OP) == "keep_all"
    assert params.single(query, "other", OP) is None
    with pytest.raises(ParamError) as raised:
        params.single([("strategy", "a"), ("strategy", "b")], "strategy", OP)
    assert str(raised.value) == (
        f"One and only one 'strategy' query parameter required for '{OP}' operation (2 passed)."
    )


def test_values_are_upper_cased_and_checked() -> None:
    assert params.strategy("per_process_instance") is RuntimeStrategy.PER_PROCESS_INSTANCE
    assert params.merge_mode("Override_Empty") is MergeMode.OVERRIDE_EMPTY
    assert params.strategy(None) is None
    with pytest.raises(ParamError) as strategy:
        params.strategy("daily")
    assert str(strategy.value) == "Runtime strategy 'DAILY' does not exist."
    with pytest.raises(ParamError) as merge:
        params.merge_mode("some")
    assert str(merge.value) == "Merge mode 'SOME' does not exist."
