"""The tenancy layer: how a request finds its merchant and how merchant-owned rows are read.

It sits just above the core and the tables: every lending module, the merchant and consumer
products and every door (API, dashboard, admin) scope tenant data through it, so "another
merchant's object is simply not found" is written once.

- ``bnpl.tenancy.keys``: API-key hashing and the one cross-tenant lookup, token to key.
- ``bnpl.tenancy.selectors``: ``scoped_queryset`` / ``scoped_get`` by merchant and mode; the
  merchant's id for a consumer (``merchant_consumer_id``, and its subquery for lists); the merchant's
  consumers with the bank data it sent (``merchant_consumer_list``).
- ``bnpl.tenancy.services``: the merchant's id for a consumer (``merchant_consumer_ensure``).
"""
