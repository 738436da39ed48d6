{{ recon_decisions('delivery_orders') }}
