"""strata from Python: `StrataFileSystem` (fsspec, `strata://`), `Client` (the REST calls it
uses), and `strata_client.metastore.StrataStorage` (a metastore-lib backend)."""
from .api import Client, StrataError
from .fs import StrataFileSystem

__all__ = ["Client", "StrataError", "StrataFileSystem"]
