import type { Metadata } from 'next';
import type { ReactNode } from 'react';

export const metadata: Metadata = {
  title: 'Tollgate × Next.js',
  description: 'Rate limits and LLM budgets for a Next.js 16 API',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', maxWidth: '42rem', margin: '3rem auto', lineHeight: 1.5 }}>{children}</body>
    </html>
  );
}
