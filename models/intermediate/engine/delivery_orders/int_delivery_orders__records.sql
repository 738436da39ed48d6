{{ recon_records('delivery_orders') }}
