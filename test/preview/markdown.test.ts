/**
 * The preview page's Markdown renderer (`src/preview/page/markdown.js`, the file the browser runs): the subset
 * cards use renders as HTML, and everything else — raw HTML, links, images, entities — stays inert text.
 */
import { loadConfig } from '../../src/config';
import { buildPrefetch, fixtureResources, listFixtures } from '../../src/fixtures/catalog';
import { invokeHook } from '../../src/hooks/invoke';
import { loadServices } from '../../src/services/registry';
import { loadPageModule } from './page-module';

const { markdownToHtml, escapeHtml } = loadPageModule<{ markdownToHtml: (s: string) => string; escapeHtml: (s: string) => string }>('markdown.js');

describe('markdown renderer: the subset cards use', () => {
  it.each([
    ['plain paragraph', 'Hello world', '<p>Hello world</p>'],
    ['two paragraphs', 'One\n\nTwo', '<p>One</p>\n<p>Two</p>'],
    ['soft line break', 'one\ntwo', '<p>one two</p>'],
    ['hard line break', 'one  \ntwo', '<p>one<br>two</p>'],
    ['bold', '**Bold.** rest', '<p><strong>Bold.</strong> rest</p>'],
    ['italics with asterisks', 'a *cited source* b', '<p>a <em>cited source</em> b</p>'],
    ['italics with underscores', 'a _word_ b', '<p>a <em>word</em> b</p>'],
    ['snake_case stays literal', 'snake_case_name', '<p>snake_case_name</p>'],
    ['bold inside italics', '*a **b** c*', '<p><em>a <strong>b</strong> c</em></p>'],
    ['bold italics', '***both***', '<p><strong><em>both</em></strong></p>'],
    ['unclosed delimiters stay literal', '2 * 3 and **open', '<p>2 * 3 and **open</p>'],
    ['code span', 'use `a*b*c` here', '<p>use <code>a*b*c</code> here</p>'],
    ['bullet list', '- one\n- two **b**', '<ul><li>one</li><li>two <strong>b</strong></li></ul>'],
    ['list continuation line', '- one\n  more\n- two', '<ul><li>one more</li><li>two</li></ul>'],
    ['numbered list', '1. one\n2. two', '<ol><li>one</li><li>two</li></ol>'],
    ['numbered list from 3', '3. three', '<ol start="3"><li>three</li></ol>'],
    ['heading is demoted below the page headings', '# Title', '<h3>Title</h3>'],
    ['rule', 'a\n\n---\n\nb', '<p>a</p>\n<hr>\n<p>b</p>'],
    ['quote', '> quoted *text*', '<blockquote><p>quoted <em>text</em></p></blockquote>'],
    ['fenced code keeps markup literal', '```\n<b>**x**</b>\n```', '<pre><code>&lt;b&gt;**x**&lt;/b&gt;</code></pre>'],
    [
      'table with escaped pipe and alignment',
      '| Test | Value |\n|---|:--:|\n| a \\| b | **5** |',
      '<table><thead><tr><th>Test</th><th class="align-center">Value</th></tr></thead><tbody><tr><td>a | b</td><td class="align-center"><strong>5</strong></td></tr></tbody></table>',
    ],
    ['table without body rows', '| A | B |\n|---|---|', '<table><thead><tr><th>A</th><th>B</th></tr></thead></table>'],
    ['short table rows are padded', '| A | B |\n|---|---|\n| 1 |', '<table><thead><tr><th>A</th><th>B</th></tr></thead><tbody><tr><td>1</td><td></td></tr></tbody></table>'],
    ['paragraph then list', 'Intro:\n- a', '<p>Intro:</p>\n<ul><li>a</li></ul>'],
  ])('%s', (_name, md, html) => {
    expect(markdownToHtml(md)).toBe(html);
  });
});

describe('markdown renderer: escapes', () => {
  it.each([
    ['backslash escapes', '\\*not italic\\* \\_x\\_ \\# \\[a\\]', '<p>*not italic* _x_ # [a]</p>'],
    ['a backslash before a letter stays', 'C:\\temp', '<p>C:\\temp</p>'],
    ['entities are decoded into text, and re-escaped', '&lt;b&gt; &amp; &quot; &#39; &#x41; &#66;', '<p>&lt;b&gt; &amp; &quot; &#39; A B</p>'],
    ['an entity cannot smuggle markup', '&lt;script&gt;alert(1)&lt;/script&gt;', '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>'],
    ['unknown entities stay literal', '&bogus; &', '<p>&amp;bogus; &amp;</p>'],
    ['invalid code points become U+FFFD', '&#0; &#xD800; &#1114112;', '<p>\ufffd \ufffd \ufffd</p>'],
    ['escaped entity-looking text', '\\&lt;', '<p>&amp;lt;</p>'],
  ])('%s', (_name, md, html) => {
    expect(markdownToHtml(md)).toBe(html);
  });

  it.each([
    ['script element', '<script>alert(1)</script>'],
    ['script split over lines', '<scr\nipt>alert(1)</script>'],
    ['event handler attribute', '<img src=x onerror=alert(1)>'],
    ['javascript: link', '[click](javascript:alert(1))'],
    ['data: link', '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)'],
    ['reference link', '[x][1]\n\n[1]: javascript:alert(1)'],
    ['image', '![img](http://evil.example/x.png)'],
    ['image with onerror', '![x" onerror="alert(1)](x)'],
    ['autolink', '<javascript:alert(1)>'],
    ['html comment', '<!-- <script>alert(1)</script> -->'],
    ['iframe in a table cell', '| a |\n|---|\n| <iframe src="javascript:alert(1)"></iframe> |'],
    ['markup in a list item', '- <b onclick="x()">bold</b>'],
    ['markup in bold', '**<svg onload=alert(1)>**'],
    ['markup in a code span', '`<script>x</script>`'],
    ['style element', '<style>body{display:none}</style>'],
  ])('%s stays text', (_name, md) => {
    const html = markdownToHtml(md);
    // Only the renderer's own tags, without attributes other than its alignment class / list start.
    for (const tag of html.match(/<[^>]*>/g) ?? []) {
      expect(tag).toMatch(/^<\/?(p|br|strong|em|code|pre|ul|ol|li|table|thead|tbody|tr|th|td|h[3-6]|hr|blockquote)( class="align-(center|right)"| start="\d+")?>$/);
    }
    expect(html).not.toMatch(/<(script|img|a|iframe|svg|style)\b/i);
    // … and what was written is shown, as text.
    const shown = html.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    for (const word of md.match(/alert\(1\)|javascript:|onerror|onclick|onload|iframe|script/g) ?? []) expect(shown).toContain(word);
  });

  it('escapeHtml escapes the five HTML characters', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('ignores NULs and carriage returns', () => {
    expect(markdownToHtml('a\u0000b\r\nc')).toBe('<p>a\ufffdb c</p>');
  });
});

describe('markdown renderer on real cards', () => {
  it('leaves no Markdown syntax behind in the detail of any fixture card', async () => {
    const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' });
    const registry = loadServices(config.servicesDir, { profile: 'default' });
    const service = registry.services[0]!;
    let cards = 0;
    for (const f of listFixtures()) {
      const patientId = f.expected.patient;
      const profile = f.expected.profile && f.expected.profile in service.ruleSet.profiles ? f.expected.profile : service.profile;
      const result = await invokeHook(
        { ...service, profile },
        { hook: service.definition.hook, hookInstance: `md-${f.slug}`, context: { userId: 'Practitioner/x', patientId }, prefetch: buildPrefetch(service.definition.prefetch ?? {}, fixtureResources(f), patientId) },
        { timeoutMs: 1000, maxPages: 1, maxResources: 10000 },
      );
      for (const card of result.response.cards) {
        cards++;
        const html = markdownToHtml(card.detail ?? '');
        const visible = html.replace(/<[^>]*>/g, ' ');
        expect(html).toMatch(/^<p><strong>/);
        expect(visible).not.toMatch(/\*\*|\\[\\`*_[\]|#!]|\|---/);
        if ((card.detail ?? '').includes('|---')) expect(html).toContain('<table><thead>');
      }
    }
    expect(cards).toBeGreaterThan(100);
  });
});
