"""A Prefect flow with one third-party dependency, shipped by ocisync."""
import humanize
from prefect import flow


@flow(log_prints=True)
def hello(size: int = 750_000_000) -> None:
    print(f"a Docker image of {humanize.naturalsize(size)} is no longer rebuilt for this flow")


if __name__ == "__main__":
    hello()
