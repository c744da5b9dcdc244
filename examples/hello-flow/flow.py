"""A sample Prefect flow: what `deno task demo` packs and ships."""
from prefect import flow, task


@task
def greet(name: str) -> str:
    return f"hello, {name}"


@flow(log_prints=True)
def hello(name: str = "world") -> None:
    print(greet(name))


if __name__ == "__main__":
    hello()
