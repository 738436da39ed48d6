{{ recon_decisions('orders_invoices') }}
