"""List pages sized by bytes: a page of tenants' 1 MiB objects asks for a few."""

from cheiron.k8s.informer import next_page_size


def test_list_pages_are_sized_by_bytes() -> None:
    mib = 1024 * 1024
    # Tenants' 1 MiB Secrets: four to a 4 MiB page; small objects: the most a page may hold.
    assert next_page_size(20 * mib, 20, 500, 4 * mib) == 4
    assert next_page_size(20 * 500, 20, 500, 4 * mib) == 500
    assert next_page_size(50 * mib, 1, 500, 4 * mib) == 1  # never zero
    assert next_page_size(0, 0, 500, 4 * mib) == 500
