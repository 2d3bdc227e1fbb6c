"""Top-level test setup shared by every suite (keep it tiny)."""

import warnings

# pulumi_cloudflare warns at import about its own deprecated aliases (AccessApplication, ...);
# import it once here so `filterwarnings = error` judges only our code.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_cloudflare\.")
    import pulumi_cloudflare  # noqa: F401
