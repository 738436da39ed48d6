{{ recon_records('orders_invoices') }}
